"""The commands of `launch.py`, one module each (its options and its run function); `registry` lists them."""
