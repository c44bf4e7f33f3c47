"""Convert CholecSeg8K to the common format.

    python data_prep/cholecseg8k.py --src RAW --dst OUT [--task T] [--val V,..] [--test V,..] [--size S]

Same as `simgen-nb data prepare cholecseg8k ...`; see data_prep/README.md for where to get the data and its licence.
"""
from simgen_nb.prepare import script_main

if __name__ == '__main__':
    raise SystemExit(script_main('cholecseg8k'))
