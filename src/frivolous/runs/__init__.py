"""What a run is, shared by the loop that trains it and the sweeps that drive
it: its typed spec (:mod:`~frivolous.runs.spec`), its folder's layout
(:mod:`~frivolous.runs.layout`), the checks and locks that keep the folder
whole (:mod:`~frivolous.runs.integrity`), and reading a run folder back
(:mod:`~frivolous.runs.folder`). See docs/architecture.md."""
