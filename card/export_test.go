package card

// NameOnCard is nameOnCard, for the tests.
var NameOnCard = nameOnCard
