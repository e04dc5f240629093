"""Cleanup: the DeletePending album, the deletion gate, deletion plans and their execution."""
