from app.gui.main import main

main()
