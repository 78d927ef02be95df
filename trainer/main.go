// Command trainer trains LSGM models and samples from them.
//
//	trainer sample --weights FILE --out grid.png [--sampler dpmpp2m --nfe 10 ...]
//	trainer info FILE
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
)

const usage = `usage: trainer <command> [flags]

commands:
  fit      train an LSGM (or, with --vae none, a data-space SGM) on images
  eval     test-set NELBO (nats/image, bits/dim) with the prior's ODE likelihood
  export   write the current EMA weights of a training run as a weights file
  sample   draw samples from a weights file and write a PNG grid
  recon    test images beside their VAE reconstructions, as a PNG
  edit     SDEdit a guide image (--init, --strength) or inpaint it (--mask)
  editbench  SDEdit's faithfulness against realism, and inpainting's errors and FD, per model
  guidebench how often guided samples are of the class asked for, and their FD to it, per scale
  classifier  train the small classifier whose features the Fréchet distance uses
  fd       Fréchet distance of samples to the test set, per sampler and NFE, with wall time
  fdplot   plot recorded FD tables of weights files against NFE, as a PNG
  info     print a weights file's architecture, tensors and provenance
  bench    ms per NFE per backend and batch, and with --kernels each GPU launch's time

Run 'trainer <command> -h' for the command's flags. With LSGM_CPUPROFILE=FILE
set, any command writes a CPU profile of itself there (go tool pprof).
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if p := os.Getenv("LSGM_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "trainer: LSGM_CPUPROFILE: %v\n", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "trainer: LSGM_CPUPROFILE: %v\n", err)
			os.Exit(1)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	err := dispatch()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func dispatch() (err error) {
	switch os.Args[1] {
	case "fit":
		err = runFit(os.Args[2:])
	case "eval":
		err = runEval(os.Args[2:])
	case "export":
		err = runExport(os.Args[2:])
	case "sample":
		err = runSample(os.Args[2:])
	case "recon":
		err = runRecon(os.Args[2:])
	case "edit":
		err = runEdit(os.Args[2:])
	case "guidebench":
		err = runGuideBench(os.Args[2:])
	case "editbench":
		err = runEditBench(os.Args[2:])
	case "classifier":
		err = runClassifier(os.Args[2:])
	case "fd":
		err = runFD(os.Args[2:])
	case "fdplot":
		err = runFDPlot(os.Args[2:])
	case "info":
		err = runInfo(os.Args[2:])
	case "bench":
		err = runBench(os.Args[2:])
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "trainer: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	return err
}

// parseFlags parses a command's flags and refuses any argument left after
// them. Go's flag package stops at the first word that is not a flag, so a
// stray word (a run folder given without --run) would otherwise drop it and
// every flag after it without a word.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("trainer %s: unexpected argument %q: settings are flags, and none follows it (trainer %s -h lists them)", fs.Name(), fs.Arg(0), fs.Name())
	}
	return nil
}
