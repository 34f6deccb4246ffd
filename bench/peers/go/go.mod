module steward/bench/peers/go

go 1.19
