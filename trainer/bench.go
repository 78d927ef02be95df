package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lsgm-go/lsgm/runtime"
	"github.com/lsgm-go/lsgm/runtime/backend"
	"github.com/lsgm-go/lsgm/runtime/sampler"
	"github.com/lsgm-go/lsgm/weights"
)

// runBench is the native counterpart of the benchmark page (bench.html):
// ms per NFE per backend and batch for whole requests (noise to RGBA, one
// decode included), and with --kernels each GPU launch's time alone.
func runBench(args []string) error { return bench(os.Stdout, args) }

func bench(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	path := fs.String("weights", "", "weights file (default: the shipped model)")
	backends := fs.String("backends", "cpu,gpu", "comma-separated: cpu, gpu")
	batches := fs.String("batches", "1,4,16,64", "comma-separated batch sizes")
	nfe := fs.Int("nfe", 10, "network evaluations a request (dpmpp2m)")
	runs := fs.Int("runs", 3, "timed requests per setting, after one warm-up (the median is reported)")
	kernels := fs.Bool("kernels", false, "also time every GPU launch alone, at each batch")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var ns []int
	for _, f := range strings.Split(*batches, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > runtime.MaxCount {
			return fmt.Errorf("trainer bench: --batches: %q is not a batch size in [1, %d]", f, runtime.MaxCount)
		}
		ns = append(ns, n)
	}
	kinds := strings.Split(*backends, ",")
	for _, k := range kinds {
		if k != "cpu" && k != "gpu" {
			return fmt.Errorf("trainer bench: --backends: %q (want cpu and/or gpu)", k)
		}
	}
	switch {
	case *nfe < 2 || *nfe > 1000:
		return fmt.Errorf("trainer bench: --nfe %d out of range [2, 1000]", *nfe)
	case *runs < 1 || *runs > 100:
		return fmt.Errorf("trainer bench: --runs %d out of range [1, 100]", *runs)
	}
	data := weights.Default()
	if *path != "" {
		var err error
		if data, err = os.ReadFile(*path); err != nil {
			return fmt.Errorf("trainer bench: %v", err)
		}
	}
	m, err := runtime.Load(data)
	if err != nil {
		return fmt.Errorf("trainer bench: %v", err)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "backend\tdevice\tbatch\tms/NFE (median)\truns\timages/s\t")
	for _, kind := range kinds {
		s, err := backend.Open(m, kind)
		if err != nil {
			fmt.Fprintf(tw, "%s\tnot available: %v\t\t\t\t\t\n", kind, err)
			continue
		}
		dev := "CPU"
		if s.GPU != nil {
			dev = s.Name()
		}
		for _, n := range ns {
			req := runtime.Request{Sampler: sampler.Config{Name: "dpmpp2m", NFE: *nfe}, Count: n, Seed: 1, Temperature: 1}
			per := make([]float64, 0, *runs)
			for i := -1; i < *runs; i++ {
				start := time.Now()
				res, err := s.Sample(req, false, nil)
				if err != nil {
					s.Close()
					return fmt.Errorf("trainer bench: %s, batch %d: %v", kind, n, err)
				}
				if i >= 0 {
					per = append(per, float64(time.Since(start).Microseconds())/1e3/float64(res.Stats.NFE))
				}
			}
			med := median(per)
			cells := make([]string, len(per))
			for i, v := range per {
				cells[i] = fmt.Sprintf("%.1f", v)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%s\t%.1f\t\n", kind, dev, n, med, strings.Join(cells, ", "), 1000*float64(n)/(med*float64(*nfe)))
		}
		if *kernels && s.GPU != nil {
			tw.Flush()
			for _, n := range ns {
				if err := kernelTable(w, s, n); err != nil {
					s.Close()
					return err
				}
			}
		}
		s.Close()
	}
	return tw.Flush()
}

// kernelTable prints each GPU launch's time alone at batch n, the slowest
// first, with its share of the network's total.
func kernelTable(w io.Writer, s *backend.Sampler, n int) error {
	ks, err := s.GPU.Profile(n, 5)
	if err != nil {
		return fmt.Errorf("trainer bench: profiling batch %d: %v", n, err)
	}
	total := map[string]float64{}
	for _, k := range ks {
		total[k.Net] += k.MS
	}
	sort.SliceStable(ks, func(i, j int) bool { return ks[i].MS > ks[j].MS })
	fmt.Fprintf(w, "\nGPU launches at batch %d, each alone (score network %.2f ms, decoder %.2f ms in all):\n", n, total["score"], total["decoder"])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "net\tnode\tkernel\tms\tshare of net")
	for _, k := range ks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.3f\t%.1f%%\n", k.Net, k.Node, k.Kernel, k.MS, 100*k.MS/total[k.Net])
	}
	return tw.Flush()
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
