"""ulpflow: bit-exact numerics from theory to FPGA."""
__version__ = "0.1.0"
