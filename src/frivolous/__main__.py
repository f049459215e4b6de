from frivolous.cli import app

app(prog_name="frivolous")
