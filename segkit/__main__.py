from segkit.cli import main

raise SystemExit(main())
