# latency_cdf.gp - job A's round trips per scenario as cumulative distributions (run.sh):
#   gnuplot -e "out='DIR'" latency_cdf.gp     reads DIR/latency_cdf.dat, writes DIR/latency_cdf.png
# One block per scenario (results.py writes them: a title line, then "round-trip-us fraction").
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
    set terminal pngcairo size 900,560 font ",10"
} else {
    set terminal png size 900,560
}
set termoption noenhanced            # scenario names have underscores
set output out."/latency_cdf.png"
set title "Job A's MPI ping-pong round trips beside job B's stream (curves: repetition 1; p50/p99: medians)"
set xlabel "round trip (us, log scale)"
set ylabel "fraction of round trips <= x"
set logscale x
set yrange [0:1.02]
set grid
set key bottom right
set arrow from graph 0, first 0.99 to graph 1, first 0.99 nohead dashtype 2 lc rgb "gray"
plot for [i=0:3] out."/latency_cdf.dat" index i using 1:2 with lines lw 2 title columnheader(1)
