DROP TRIGGER communities_count_stored_subscriptions ON communities;
DROP FUNCTION community_subscriptions_count_for_new_community();
DROP TABLE community_subscriptions;
DROP FUNCTION community_subscriptions_removed();
DROP FUNCTION community_subscriptions_added();
DROP TABLE community_subscription_records;
