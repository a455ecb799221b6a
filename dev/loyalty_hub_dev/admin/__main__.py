import sys

from loyalty_hub_dev.admin.cli import main

sys.exit(main())
