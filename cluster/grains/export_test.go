package grains

// OwnedShards exposes ownedShards to the package's external tests.
var OwnedShards = ownedShards
