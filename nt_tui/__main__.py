from nt_tui.cli import main

raise SystemExit(main())
