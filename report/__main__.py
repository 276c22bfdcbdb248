from report.cli import leave, main

leave(main())
