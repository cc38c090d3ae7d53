-- Run once by the postgres image on an empty volume (after POSTGRES_DB=mcn is created): Prefect's own database.
CREATE DATABASE prefect;
