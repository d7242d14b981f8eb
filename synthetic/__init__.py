"""The synthetic demo world: `synthetic.world.generate` writes the six input tables.

See docs/synthetic-data.md for the data-generating story and `synthetic.config.WorldConfig`
for the knobs. Nothing is imported here, so `import synthetic` stays cheap.
"""
