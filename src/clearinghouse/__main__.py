from clearinghouse.cli.main import run

run()
