"""The DIX/plain benchmark's host side: the report of the lab's bench
scenario (``python -m bench report``) and the command that runs it
(``python -m bench run``).  See bench/README.md."""
