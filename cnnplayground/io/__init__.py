"""Files: projects (:mod:`.project`), atomic writes (:mod:`.atomic`), exports."""
