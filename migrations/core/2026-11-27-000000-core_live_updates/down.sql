DROP SEQUENCE live_update_seq;
