"""Point-in-time features and labels.

Public entry points live in `features.build` (`build_advocate_training`,
`build_burnout_training`, `build_scoring`, `build_eligibility_facts`, `build_features`) and
`features.labels`; `features.registry` describes every feature; `features.state` owns the
rules for "the state of the world at time t".
"""
