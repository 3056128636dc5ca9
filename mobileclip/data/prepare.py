"""``python -m mobileclip.data``: prepare data.

``synth --out DIR`` writes the procedurally generated demo dataset (:func:`~.synthetic.write_synthetic_dataset`);
``shards CSV --out DIR`` packs a caption CSV into tar shards; ``extract ARCHIVE`` unpacks a ``../shared/data``
archive into the cache.
"""
from __future__ import annotations

import argparse

from ..utils.errors import cli_errors
from .shared_data import extract_shared
from .shard_writer import write_tar_shards
from .synthetic import write_synthetic_dataset


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m mobileclip.data", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("synth", help="write the synthetic coloured-shapes dataset")
    s.add_argument("--out", required=True, help="output folder (created atomically)")
    s.add_argument("--n-train", type=int, default=2000, help="training images (two captions each; default 2000)")
    s.add_argument("--n-test", type=int, default=400, help="test images (default 400)")
    s.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--colour-bias", type=float, default=0.8,
                   help="probability that a shape gets its typical colour (0 = colours independent of the "
                        "class; default 0.8)")
    s.add_argument("--force", action="store_true",
                   help="regenerate an earlier synthetic dataset in --out (refused if the folder holds anything else)")
    t = sub.add_parser("shards", help="pack an image,caption CSV into webdataset-style tar shards")
    t.add_argument("csv", help="caption CSV (columns image,caption; paths relative to the CSV)")
    t.add_argument("--out", required=True, help="output folder for <prefix>-NNNNNN.tar")
    t.add_argument("--samples-per-shard", type=int, default=1000, help="samples per shard (default 1000)")
    t.add_argument("--prefix", default="shard", help="shard file name prefix (default 'shard')")
    t.add_argument("--force", action="store_true",
                   help="replace the <prefix>-NNNNNN.tar shards an earlier run wrote in --out (no other file)")
    e = sub.add_parser("extract", help="extract an archive of ../shared/data into the cache")
    e.add_argument("archive", help="archive name in the shared data folder (e.g. cifar10.tar.gz) or a path")
    e.add_argument("--cache-dir", default=".cache/data", help="where to extract (default .cache/data)")
    e.add_argument("--shared-dir", default=None,
                   help="shared data folder (default $MOBILECLIP_SHARED_DATA or <repo>/../shared/data)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with cli_errors("mobileclip.data"):
        if args.command == "synth":
            meta = write_synthetic_dataset(args.out, args.n_train, args.n_test, args.size, args.seed,
                                           overwrite=args.force, colour_bias=args.colour_bias)
            print(f"synthetic dataset in {args.out}: {meta['counts']['train']['images']} train / "
                  f"{meta['counts']['test']['images']} test images, classes: {', '.join(meta['classes'])}")
        elif args.command == "shards":
            paths = write_tar_shards(args.csv, args.out, args.samples_per_shard, args.prefix, force=args.force)
            print(f"wrote {len(paths)} shards to {args.out}")
        else:
            print(extract_shared(args.archive, args.cache_dir, args.shared_dir))


if __name__ == "__main__":
    main()
