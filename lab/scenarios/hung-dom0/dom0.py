"""hung-dom0: never finish; dom0-init's bound must stop this."""

import time

print("lab: hung-dom0 is going to sleep", flush=True)
time.sleep(10**6)
