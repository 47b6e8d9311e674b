package synth

import "time"

// region says which language's records a place attracts.
type region uint8

const (
	regionWorld region = iota
	regionKorea
	regionJapan
	regionChina
)

// place is a city or landmark that located records cluster around.
// offsetMin is its usual UTC offset in minutes (standard time; the corpus
// does not model daylight saving), elev its ground elevation in metres.
type place struct {
	name      string // English, as it appears in captions
	local     string // name in the local script, for CJK captions
	lat, lon  float64
	offsetMin int
	elev      float64
	region    region
	weight    float64 // relative popularity with photographers
}

// zones holds one fixed zone per entry of places.
var zones = func() []*time.Location {
	z := make([]*time.Location, len(places))
	for i, p := range places {
		z[i] = time.FixedZone("", p.offsetMin*60)
	}
	return z
}()

var places = []place{
	{"Seoul", "서울", 37.5665, 126.9780, 540, 38, regionKorea, 10},
	{"Busan", "부산", 35.1796, 129.0756, 540, 10, regionKorea, 6},
	{"Jeju", "제주도", 33.4996, 126.5312, 540, 20, regionKorea, 5},
	{"Gyeongju", "경주", 35.8562, 129.2247, 540, 45, regionKorea, 2},
	{"Incheon", "인천", 37.4563, 126.7052, 540, 12, regionKorea, 2},
	{"Jeonju", "전주", 35.8242, 127.1480, 540, 50, regionKorea, 2},
	{"Gangneung", "강릉", 37.7519, 128.8761, 540, 20, regionKorea, 1.5},
	{"Gyeongbokgung", "경복궁", 37.5796, 126.9770, 540, 40, regionKorea, 2},
	{"N Seoul Tower", "남산타워", 37.5512, 126.9882, 540, 236, regionKorea, 2},
	{"Haeundae Beach", "해운대", 35.1587, 129.1604, 540, 3, regionKorea, 2},
	{"Seongsan Ilchulbong", "성산일출봉", 33.4581, 126.9425, 540, 100, regionKorea, 1},
	{"Seoraksan", "설악산", 38.1194, 128.4656, 540, 700, regionKorea, 1},
	{"Tokyo", "東京", 35.6762, 139.6503, 540, 40, regionJapan, 9},
	{"Kyoto", "京都", 35.0116, 135.7681, 540, 50, regionJapan, 5},
	{"Osaka", "大阪", 34.6937, 135.5023, 540, 12, regionJapan, 4},
	{"Mount Fuji", "富士山", 35.3606, 138.7274, 540, 2300, regionJapan, 2},
	{"Nara", "奈良", 34.6851, 135.8048, 540, 60, regionJapan, 1.5},
	{"Sapporo", "札幌", 43.0618, 141.3545, 540, 30, regionJapan, 1},
	{"Tokyo Tower", "東京タワー", 35.6586, 139.7454, 540, 20, regionJapan, 1.5},
	{"Beijing", "北京", 39.9042, 116.4074, 480, 44, regionChina, 5},
	{"Shanghai", "上海", 31.2304, 121.4737, 480, 4, regionChina, 5},
	{"Great Wall at Mutianyu", "长城", 40.4319, 116.5704, 480, 540, regionChina, 2},
	{"West Lake", "西湖", 30.2460, 120.1480, 480, 10, regionChina, 1.5},
	{"Guilin", "桂林", 25.2736, 110.2900, 480, 150, regionChina, 1},
	{"Hong Kong", "香港", 22.3193, 114.1694, 480, 20, regionChina, 4},
	{"Taipei", "台北", 25.0330, 121.5654, 480, 10, regionChina, 2},
	{"London", "", 51.5074, -0.1278, 0, 11, regionWorld, 9},
	{"Paris", "", 48.8566, 2.3522, 60, 35, regionWorld, 9},
	{"Eiffel Tower", "", 48.8584, 2.2945, 60, 33, regionWorld, 3},
	{"Rome", "", 41.9028, 12.4964, 60, 21, regionWorld, 6},
	{"Colosseum", "", 41.8902, 12.4922, 60, 25, regionWorld, 2},
	{"Venice", "", 45.4408, 12.3155, 60, 1, regionWorld, 4},
	{"Barcelona", "", 41.3874, 2.1686, 60, 12, regionWorld, 5},
	{"Sagrada Familia", "", 41.4036, 2.1744, 60, 40, regionWorld, 1.5},
	{"Madrid", "", 40.4168, -3.7038, 60, 657, regionWorld, 3},
	{"Lisbon", "", 38.7223, -9.1393, 0, 50, regionWorld, 3},
	{"Amsterdam", "", 52.3676, 4.9041, 60, 0, regionWorld, 4},
	{"Berlin", "", 52.5200, 13.4050, 60, 34, regionWorld, 4},
	{"Prague", "", 50.0755, 14.4378, 60, 200, regionWorld, 3},
	{"Vienna", "", 48.2082, 16.3738, 60, 190, regionWorld, 2},
	{"Reykjavik", "", 64.1466, -21.9426, 0, 15, regionWorld, 2},
	{"Santorini", "", 36.3932, 25.4615, 120, 150, regionWorld, 2},
	{"Athens", "", 37.9838, 23.7275, 120, 70, regionWorld, 2},
	{"Istanbul", "", 41.0082, 28.9784, 180, 39, regionWorld, 3},
	{"Edinburgh", "", 55.9533, -3.1883, 0, 47, regionWorld, 2},
	{"Zermatt", "", 46.0207, 7.7491, 60, 1608, regionWorld, 1},
	{"Dubrovnik", "", 42.6507, 18.0944, 60, 10, regionWorld, 1},
	{"Copenhagen", "", 55.6761, 12.5683, 60, 14, regionWorld, 2},
	{"New York", "", 40.7128, -74.0060, -300, 10, regionWorld, 10},
	{"Statue of Liberty", "", 40.6892, -74.0445, -300, 5, regionWorld, 2},
	{"Central Park", "", 40.7829, -73.9654, -300, 40, regionWorld, 2},
	{"San Francisco", "", 37.7749, -122.4194, -480, 16, regionWorld, 5},
	{"Golden Gate Bridge", "", 37.8199, -122.4783, -480, 67, regionWorld, 2},
	{"Los Angeles", "", 34.0522, -118.2437, -480, 93, regionWorld, 5},
	{"Grand Canyon", "", 36.1069, -112.1129, -420, 2100, regionWorld, 2},
	{"Yosemite", "", 37.8651, -119.5383, -480, 1200, regionWorld, 2},
	{"Chicago", "", 41.8781, -87.6298, -360, 181, regionWorld, 4},
	{"Seattle", "", 47.6062, -122.3321, -480, 53, regionWorld, 3},
	{"Vancouver", "", 49.2827, -123.1207, -480, 70, regionWorld, 3},
	{"Toronto", "", 43.6532, -79.3832, -300, 76, regionWorld, 3},
	{"Banff", "", 51.1784, -115.5708, -420, 1383, regionWorld, 1.5},
	{"Mexico City", "", 19.4326, -99.1332, -360, 2240, regionWorld, 3},
	{"Rio de Janeiro", "", -22.9068, -43.1729, -180, 5, regionWorld, 3},
	{"Buenos Aires", "", -34.6037, -58.3816, -180, 25, regionWorld, 2},
	{"Machu Picchu", "", -13.1631, -72.5450, -300, 2430, regionWorld, 1},
	{"Havana", "", 23.1136, -82.3666, -300, 59, regionWorld, 1},
	{"Sydney", "", -33.8688, 151.2093, 600, 58, regionWorld, 5},
	{"Sydney Opera House", "", -33.8568, 151.2153, 600, 5, regionWorld, 1.5},
	{"Melbourne", "", -37.8136, 144.9631, 600, 31, regionWorld, 3},
	{"Auckland", "", -36.8485, 174.7633, 720, 20, regionWorld, 2},
	{"Queenstown", "", -45.0312, 168.6626, 720, 310, regionWorld, 1},
	{"Bangkok", "", 13.7563, 100.5018, 420, 2, regionWorld, 4},
	{"Singapore", "", 1.3521, 103.8198, 480, 15, regionWorld, 4},
	{"Bali", "", -8.3405, 115.0920, 480, 100, regionWorld, 3},
	{"Hanoi", "", 21.0278, 105.8342, 420, 12, regionWorld, 2},
	{"Mumbai", "", 19.0760, 72.8777, 330, 14, regionWorld, 3},
	{"Taj Mahal", "", 27.1751, 78.0421, 330, 170, regionWorld, 1.5},
	{"Dubai", "", 25.2048, 55.2708, 240, 5, regionWorld, 3},
	{"Cairo", "", 30.0444, 31.2357, 120, 23, regionWorld, 2},
	{"Giza Pyramids", "", 29.9792, 31.1342, 120, 60, regionWorld, 1.5},
	{"Cape Town", "", -33.9249, 18.4241, 120, 25, regionWorld, 2},
	{"Marrakech", "", 31.6295, -7.9811, 60, 466, regionWorld, 1.5},
	{"Nairobi", "", -1.2921, 36.8219, 180, 1795, regionWorld, 1},
	{"Kathmandu", "", 27.7172, 85.3240, 345, 1400, regionWorld, 1},
}
