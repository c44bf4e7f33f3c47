"""Convert EndoVis 2017 robotic instrument segmentation (--task parts|types|binary) to the common format.

    python data_prep/endovis2017.py --src RAW --dst OUT [--task T] [--val V,..] [--test V,..] [--size S]

Same as `simgen-nb data prepare endovis2017 ...`; see data_prep/README.md for where to get the data and its licence.
"""
from simgen_nb.prepare import script_main

if __name__ == '__main__':
    raise SystemExit(script_main('endovis2017'))
