"""Backup targets: the NAS folder and the Pixel by way of Syncthing (Google Photos)."""
