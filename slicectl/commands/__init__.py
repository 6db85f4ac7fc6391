"""The subcommands of ``slicectl``, one module per group. Each module's ``register`` adds
its subcommands to the top-level parser; ``slicectl.cli.build_parser`` calls them in a
fixed order, which is the order ``slicectl --help`` lists them in.

The modules import only argparse and light helpers at the top: each handler imports what
it needs when it runs, so ``slicectl topology show`` works without Mininet and
``slicectl wan`` without os-ken.
"""
