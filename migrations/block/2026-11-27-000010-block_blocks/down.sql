DROP TABLE community_blocks;
DROP TABLE community_block_records;
