DROP INDEX actors_inactive;
