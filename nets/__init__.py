"""ulpflow.nets"""
