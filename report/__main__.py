from report.render.garbage import few_collections

few_collections()  # first: importing the command line, then torch and WeasyPrint, makes most objects a command keeps

from report.cli import as_a_command  # noqa: E402

as_a_command()
