package synth

// lens is one lens as EXIF names it. maxMM equal to minMM means a prime;
// wideF is the widest aperture it opens to.
type lens struct {
	name         string
	minMM, maxMM float64
	wideF        float64
}

// cameraModel is a make/model pair as the camera writes it into EXIF, with
// the year it went on sale (photos cannot predate it) and its native image
// size. Phones and compacts have one fixed lens.
type cameraModel struct {
	make, model string
	year        int
	w, h        int
	phone       bool
	weight      float64 // relative popularity on photo sites
	lenses      []lens
}

var (
	lensesEF = []lens{
		{"EF24-70mm f/2.8L II USM", 24, 70, 2.8}, {"EF50mm f/1.8 STM", 50, 50, 1.8},
		{"EF70-200mm f/2.8L IS III USM", 70, 200, 2.8}, {"EF16-35mm f/4L IS USM", 16, 35, 4},
		{"EF24-105mm f/4L IS II USM", 24, 105, 4}, {"EF100mm f/2.8L Macro IS USM", 100, 100, 2.8},
		{"EF85mm f/1.4L IS USM", 85, 85, 1.4},
	}
	lensesEFS = []lens{
		{"EF-S18-55mm f/3.5-5.6 IS STM", 18, 55, 3.5}, {"EF-S18-135mm f/3.5-5.6 IS USM", 18, 135, 3.5},
		{"EF-S10-18mm f/4.5-5.6 IS STM", 10, 18, 4.5}, {"EF50mm f/1.8 STM", 50, 50, 1.8},
		{"EF-S55-250mm f/4-5.6 IS STM", 55, 250, 4},
	}
	lensesRF = []lens{
		{"RF24-70mm F2.8 L IS USM", 24, 70, 2.8}, {"RF24-105mm F4 L IS USM", 24, 105, 4},
		{"RF50mm F1.8 STM", 50, 50, 1.8}, {"RF15-35mm F2.8 L IS USM", 15, 35, 2.8},
		{"RF100-500mm F4.5-7.1 L IS USM", 100, 500, 4.5},
	}
	lensesNikonFX = []lens{
		{"AF-S NIKKOR 24-70mm f/2.8E ED VR", 24, 70, 2.8}, {"AF-S NIKKOR 50mm f/1.8G", 50, 50, 1.8},
		{"AF-S NIKKOR 70-200mm f/2.8E FL ED VR", 70, 200, 2.8}, {"AF-S NIKKOR 14-24mm f/2.8G ED", 14, 24, 2.8},
		{"AF-S NIKKOR 85mm f/1.8G", 85, 85, 1.8},
	}
	lensesNikonDX = []lens{
		{"AF-S DX NIKKOR 18-55mm f/3.5-5.6G VR", 18, 55, 3.5}, {"AF-S DX NIKKOR 18-140mm f/3.5-5.6G ED VR", 18, 140, 3.5},
		{"AF-S DX NIKKOR 35mm f/1.8G", 35, 35, 1.8}, {"AF-S DX NIKKOR 55-300mm f/4.5-5.6G ED VR", 55, 300, 4.5},
	}
	lensesNikonZ = []lens{
		{"NIKKOR Z 24-70mm f/4 S", 24, 70, 4}, {"NIKKOR Z 50mm f/1.8 S", 50, 50, 1.8},
		{"NIKKOR Z 24-120mm f/4 S", 24, 120, 4}, {"NIKKOR Z 70-200mm f/2.8 VR S", 70, 200, 2.8},
	}
	lensesSonyFE = []lens{
		{"FE 24-70mm F2.8 GM", 24, 70, 2.8}, {"FE 28-70mm F3.5-5.6 OSS", 28, 70, 3.5},
		{"FE 85mm F1.8", 85, 85, 1.8}, {"FE 35mm F1.8", 35, 35, 1.8}, {"FE 16-35mm F4 ZA OSS", 16, 35, 4},
		{"FE 70-200mm F2.8 GM OSS", 70, 200, 2.8}, {"FE 24-105mm F4 G OSS", 24, 105, 4},
	}
	lensesSonyE = []lens{
		{"E PZ 16-50mm F3.5-5.6 OSS", 16, 50, 3.5}, {"E 18-135mm F3.5-5.6 OSS", 18, 135, 3.5},
		{"30mm F1.4 DC DN | Contemporary 016", 30, 30, 1.4}, {"E 35mm F1.8 OSS", 35, 35, 1.8},
	}
	lensesFuji = []lens{
		{"XF16-55mmF2.8 R LM WR", 16, 55, 2.8}, {"XF35mmF1.4 R", 35, 35, 1.4},
		{"XF18-55mmF2.8-4 R LM OIS", 18, 55, 2.8}, {"XF23mmF2 R WR", 23, 23, 2},
		{"XF56mmF1.2 R", 56, 56, 1.4}, {"XF10-24mmF4 R OIS", 10, 24, 4},
	}
	lensesOlympus = []lens{
		{"OLYMPUS M.12-40mm F2.8", 12, 40, 2.8}, {"OLYMPUS M.25mm F1.8", 25, 25, 1.8},
		{"OLYMPUS M.14-42mm F3.5-5.6 EZ", 14, 42, 3.5}, {"OLYMPUS M.40-150mm F4.0-5.6 R", 40, 150, 4},
	}
	lensesLumix = []lens{
		{"LUMIX G VARIO 12-35/F2.8 II", 12, 35, 2.8}, {"LUMIX G 25/F1.7", 25, 25, 1.8},
		{"LEICA DG 12-60/F2.8-4.0", 12, 60, 2.8},
	}
	lensesPentax = []lens{
		{"HD PENTAX-D FA 24-70mmF2.8ED SDM WR", 24, 70, 2.8}, {"smc PENTAX-FA 50mm F1.4", 50, 50, 1.4},
	}
)

func fixed(name string, mm, f float64) []lens { return []lens{{name, mm, mm, f}} }

var cameraModels = []cameraModel{
	{"Apple", "iPhone 14 Pro", 2022, 4032, 3024, true, 10, fixed("iPhone 14 Pro back triple camera 6.86mm f/1.78", 6.86, 1.8)},
	{"Apple", "iPhone 13", 2021, 4032, 3024, true, 9, fixed("iPhone 13 back dual wide camera 5.1mm f/1.6", 5.1, 1.6)},
	{"Apple", "iPhone 15 Pro", 2023, 4032, 3024, true, 8, fixed("iPhone 15 Pro back triple camera 6.765mm f/1.78", 6.765, 1.8)},
	{"Apple", "iPhone 12", 2020, 4032, 3024, true, 7, fixed("iPhone 12 back dual wide camera 4.2mm f/1.6", 4.2, 1.6)},
	{"Apple", "iPhone 11", 2019, 4032, 3024, true, 7, fixed("iPhone 11 back dual wide camera 4.25mm f/1.8", 4.25, 1.8)},
	{"Apple", "iPhone X", 2017, 4032, 3024, true, 4, fixed("iPhone X back dual camera 4mm f/1.8", 4, 1.8)},
	{"Apple", "iPhone 8", 2017, 4032, 3024, true, 3, fixed("iPhone 8 back camera 3.99mm f/1.8", 3.99, 1.8)},
	{"Apple", "iPhone 6", 2014, 3264, 2448, true, 3, fixed("iPhone 6 back camera 4.15mm f/2.2", 4.15, 2.2)},
	{"Apple", "iPhone 4S", 2011, 3264, 2448, true, 1, fixed("iPhone 4S back camera 4.28mm f/2.4", 4.28, 2.5)},
	{"samsung", "SM-G998B", 2021, 4000, 3000, true, 6, fixed("", 6.7, 1.8)},
	{"samsung", "SM-S918B", 2023, 4000, 3000, true, 5, fixed("", 6.3, 1.8)},
	{"samsung", "SM-G973F", 2019, 4032, 3024, true, 4, fixed("", 4.3, 1.6)},
	{"samsung", "SM-A525F", 2021, 4000, 3000, true, 3, fixed("", 5.2, 1.8)},
	{"Google", "Pixel 7", 2022, 4080, 3072, true, 4, fixed("Pixel 7 back camera 6.81mm f/1.85", 6.81, 1.8)},
	{"Google", "Pixel 8 Pro", 2023, 4080, 3072, true, 3, fixed("Pixel 8 Pro back camera 6.9mm f/1.68", 6.9, 1.6)},
	{"Google", "Pixel 4a", 2020, 4032, 3024, true, 2, fixed("Pixel 4a back camera 4.38mm f/1.73", 4.38, 1.8)},
	{"HUAWEI", "ELE-L29", 2019, 3648, 2736, true, 2, fixed("", 5.56, 1.8)},
	{"Xiaomi", "M2101K9AG", 2021, 4000, 3000, true, 2, fixed("", 4.71, 1.8)},
	{"Canon", "Canon EOS 5D Mark IV", 2016, 6720, 4480, false, 6, lensesEF},
	{"Canon", "Canon EOS 5D Mark III", 2012, 5760, 3840, false, 4, lensesEF},
	{"Canon", "Canon EOS 6D", 2012, 5472, 3648, false, 4, lensesEF},
	{"Canon", "Canon EOS 80D", 2016, 6000, 4000, false, 3, lensesEFS},
	{"Canon", "Canon EOS REBEL T6i", 2015, 6000, 4000, false, 3, lensesEFS},
	{"Canon", "Canon EOS 400D DIGITAL", 2006, 3888, 2592, false, 2, lensesEFS},
	{"Canon", "Canon EOS R5", 2020, 8192, 5464, false, 4, lensesRF},
	{"Canon", "Canon EOS R6", 2020, 5472, 3648, false, 4, lensesRF},
	{"Canon", "Canon PowerShot G7 X Mark II", 2016, 5472, 3648, false, 2, []lens{{"8.8-36.8 mm", 8.8, 36.8, 1.8}}},
	{"NIKON CORPORATION", "NIKON D850", 2017, 8256, 5504, false, 5, lensesNikonFX},
	{"NIKON CORPORATION", "NIKON D750", 2014, 6016, 4016, false, 4, lensesNikonFX},
	{"NIKON CORPORATION", "NIKON D7500", 2017, 5568, 3712, false, 3, lensesNikonDX},
	{"NIKON CORPORATION", "NIKON D3200", 2012, 6016, 4000, false, 3, lensesNikonDX},
	{"NIKON CORPORATION", "NIKON D90", 2008, 4288, 2848, false, 2, lensesNikonDX},
	{"NIKON CORPORATION", "NIKON Z 6", 2018, 6048, 4024, false, 3, lensesNikonZ},
	{"NIKON CORPORATION", "NIKON Z 9", 2021, 8256, 5504, false, 1, lensesNikonZ},
	{"SONY", "ILCE-7M3", 2018, 6000, 4000, false, 6, lensesSonyFE},
	{"SONY", "ILCE-7RM4", 2019, 9504, 6336, false, 3, lensesSonyFE},
	{"SONY", "ILCE-7M4", 2021, 7008, 4672, false, 3, lensesSonyFE},
	{"SONY", "ILCE-6400", 2019, 6000, 4000, false, 3, lensesSonyE},
	{"SONY", "DSC-RX100M5", 2016, 5472, 3648, false, 2, []lens{{"24-70mm F1.8-2.8", 8.8, 25.7, 1.8}}},
	{"FUJIFILM", "X-T4", 2020, 6240, 4160, false, 4, lensesFuji},
	{"FUJIFILM", "X-T3", 2018, 6240, 4160, false, 3, lensesFuji},
	{"FUJIFILM", "X-E3", 2017, 6000, 4000, false, 2, lensesFuji},
	{"FUJIFILM", "X100V", 2020, 6240, 4160, false, 3, fixed("", 23, 2)},
	{"OLYMPUS CORPORATION", "E-M1MarkII", 2016, 5184, 3888, false, 2, lensesOlympus},
	{"OLYMPUS CORPORATION", "E-M10MarkIII", 2017, 4608, 3456, false, 2, lensesOlympus},
	{"Panasonic", "DC-GH5", 2017, 5184, 3888, false, 2, lensesLumix},
	{"Panasonic", "DMC-GX85", 2016, 4592, 3448, false, 1, lensesLumix},
	{"LEICA CAMERA AG", "LEICA Q2", 2019, 8368, 5584, false, 1, fixed("SUMMILUX 1:1.7/28 ASPH.", 28, 1.8)},
	{"RICOH IMAGING COMPANY, LTD.", "PENTAX K-1", 2016, 7360, 4912, false, 1, lensesPentax},
	{"DJI", "FC3170", 2020, 4000, 3000, false, 2, fixed("24.0 mm f/2.8", 4.5, 2.8)},
	{"GoPro", "HERO9 Black", 2020, 5184, 3888, false, 1, fixed("", 3, 2.8)},
}

// Real exposure settings, in third stops where cameras offer them.
var (
	fStops = []float64{1.4, 1.6, 1.8, 2, 2.2, 2.5, 2.8, 3.2, 3.5, 4, 4.5, 5, 5.6, 6.3, 7.1, 8, 9, 10, 11, 13, 14, 16, 18, 20, 22}

	// Shutter speeds in seconds, fastest first.
	shutterSpeeds = []float64{
		1.0 / 8000, 1.0 / 6400, 1.0 / 5000, 1.0 / 4000, 1.0 / 3200, 1.0 / 2500, 1.0 / 2000, 1.0 / 1600,
		1.0 / 1250, 1.0 / 1000, 1.0 / 800, 1.0 / 640, 1.0 / 500, 1.0 / 400, 1.0 / 320, 1.0 / 250,
		1.0 / 200, 1.0 / 160, 1.0 / 125, 1.0 / 100, 1.0 / 80, 1.0 / 60, 1.0 / 50, 1.0 / 40, 1.0 / 30,
		1.0 / 25, 1.0 / 20, 1.0 / 15, 1.0 / 13, 1.0 / 10, 1.0 / 8, 1.0 / 6, 1.0 / 5, 1.0 / 4, 0.3, 0.4,
		0.5, 0.6, 0.8, 1, 1.3, 1.6, 2, 2.5, 3.2, 4, 5, 6, 8, 10, 13, 15, 20, 25, 30,
	}

	isoSteps = []int{100, 125, 160, 200, 250, 320, 400, 500, 640, 800, 1000, 1250, 1600, 2000, 2500, 3200, 4000, 5000, 6400, 8000, 10000, 12800}

	// Common focal lengths a zoom is left at, in mm.
	commonFocals = []float64{10, 12, 14, 16, 18, 20, 24, 28, 35, 40, 50, 55, 70, 85, 100, 105, 135, 150, 200, 250, 300, 400, 500}
)

// light is how bright the scene was; it steers shutter speed and ISO so a
// night shot is not taken at 1/4000 s and ISO 100.
type light uint8

const (
	lightNormal light = iota
	lightBright
	lightDim
	lightNight
)

// exposureRange gives index ranges into shutterSpeeds and isoSteps.
var exposureRange = [...]struct{ shutterLo, shutterHi, isoLo, isoHi int }{
	lightBright: {0, 15, 0, 3},
	lightNormal: {9, 21, 0, 9},
	lightDim:    {16, 28, 6, 15},
	lightNight:  {21, 54, 9, 21},
}
