"""What every floor of frivolous shares, importing nothing of its own: seeding
(:mod:`~frivolous.common.seeding`), argument checks
(:mod:`~frivolous.common.validation`), files written atomically
(:mod:`~frivolous.common.files`) and the one parameter counter
(:mod:`~frivolous.common.parameters`). See docs/architecture.md."""
