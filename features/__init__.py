"""Point-in-time features, labels and the other facts about the world at T.

Entry points: `features.build` (`build_advocate_training`, `build_burnout_training`,
`build_scoring`, `build_features`), `features.labels` and `features.facts` (eligibility
facts, contact details, ask history, training-rows facts). Each family module
(`nps`, `usage`, `support`, `account`, `contact`, `advocacy`) declares its features once
(`features.spec.Feature`: name, formula, dtype, reason group, description), windows
included; `features.registry` lists them in frame order; `features.state` owns the rules
for "the state of the world at time t".
"""
