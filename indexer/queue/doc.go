// Package queue carries records from the producers (crawls, the HTTP API)
// to the indexer. Its Kafka side publishes with kafka-go to the topic
// picdex.images: the key is the record id, so all versions of one image
// go to one partition in order; the value is the record's plain JSON, so
// any Kafka client can produce records too.
package queue
