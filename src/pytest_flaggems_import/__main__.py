from pytest_flaggems_import.cli import main

raise SystemExit(main())
