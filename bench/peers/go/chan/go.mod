module steward/bench/peers/go/chan

go 1.19
