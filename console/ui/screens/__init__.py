"""Modal and full screens: help, confirm (shared by every mutating action), and the action
screens (migrate, test-login, audit) provided by their modules when they exist."""
