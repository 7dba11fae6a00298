"""python -m xendix"""

from .cli import main

main(prog_name="xendix")
