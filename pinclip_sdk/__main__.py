import sys

from pinclip_sdk.cli import main

sys.exit(main())
