module steward/bench/peers/go/task

go 1.19
