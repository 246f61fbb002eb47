"""The debugger screen and the modal dialogs it opens."""
