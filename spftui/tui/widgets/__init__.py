"""One module per pane, plus the virtualised LineView they are built on."""
