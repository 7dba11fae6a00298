# Never finish: the dom0 side must give up on its own.
rec hang started=true
sleep 100000
