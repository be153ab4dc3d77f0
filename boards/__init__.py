"""ulpflow.boards"""
