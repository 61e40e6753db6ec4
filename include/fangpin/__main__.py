from fangpin.cli import main

raise SystemExit(main())
