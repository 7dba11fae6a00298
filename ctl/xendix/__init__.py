"""xendix: the xen-dix dom0 control plane."""
