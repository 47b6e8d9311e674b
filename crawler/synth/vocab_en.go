package synth

// English vocabulary for captions, titles, alt text, descriptions and tags.
//
// Each list is ordered from most to least common in real image captions:
// words are drawn from a Zipf distribution over list position, so the order
// is what makes "dog" frequent and "platypus" rare. Underscores join the
// words of a multi-word term ("ice_cream" becomes "ice cream").
//
// Changing a list (order or content) changes the generated corpus; refresh
// the demo corpus with `go test ./crawler/synth -run TestDemoCorpus -update`.

// Colours carry a representative sRGB value so a caption's "red bus" can
// also contribute a red to the record's dominant colours.
var colourWords = []struct{ name, hex string }{
	{"red", "#c8102e"}, {"blue", "#1f5fbf"}, {"green", "#2e8b3a"}, {"white", "#f5f5f2"},
	{"black", "#141414"}, {"yellow", "#f2c81f"}, {"orange", "#f07c1a"}, {"pink", "#f2a0b8"},
	{"purple", "#7a3fa0"}, {"grey", "#8a8a8a"}, {"brown", "#7b4a2a"}, {"golden", "#d4a017"},
	{"silver", "#b8bcc2"}, {"turquoise", "#30c0b8"}, {"navy", "#1b2a59"}, {"teal", "#127a7a"},
	{"beige", "#e0cfae"}, {"cream", "#f3ead2"}, {"ivory", "#f6f1e1"}, {"crimson", "#a3122a"},
	{"scarlet", "#e0301e"}, {"coral", "#f27a63"}, {"salmon", "#f29a80"}, {"peach", "#f7c4a0"},
	{"lavender", "#b7a4d8"}, {"lilac", "#c8a2c8"}, {"violet", "#8f4fc9"}, {"indigo", "#3c2f8f"},
	{"magenta", "#c2187a"}, {"cyan", "#1fb8d6"}, {"aqua", "#5fd4d0"}, {"mint", "#a8e6c4"},
	{"olive", "#6b7a2a"}, {"emerald", "#1f9a63"}, {"jade", "#3f9f7f"}, {"lime", "#9bd12f"},
	{"khaki", "#c3b27a"}, {"tan", "#c9a27a"}, {"amber", "#f0a21f"}, {"mustard", "#d0a62a"},
	{"ochre", "#c77d1f"}, {"rust", "#a9471f"}, {"burgundy", "#6d1a2a"}, {"plum", "#6f2f63"},
	{"charcoal", "#36393d"}, {"slate", "#5a6675"}, {"sky_blue", "#7fbfe8"}, {"azure", "#2f8fe0"},
	{"cobalt", "#1f47a8"}, {"sapphire", "#1f3f9a"}, {"ruby", "#9b1030"}, {"rose", "#e0607e"},
	{"blush", "#efb4b4"}, {"sand", "#d9c39a"}, {"taupe", "#8f8075"}, {"bronze", "#9c6a2f"},
	{"copper", "#b8693a"}, {"pearl", "#ece6d8"}, {"mauve", "#b08499"}, {"maroon", "#6a1b1b"},
}

var adjectiveWords = words(`
old small little big beautiful quiet empty busy tall tiny large long young colorful bright dark
lonely peaceful calm wild ancient modern vintage rustic cozy narrow wide huge giant cute happy
sleepy curious playful lazy hungry proud gentle majestic elegant graceful delicate wooden stone
glass metal iron steel brick marble concrete ceramic paper plastic leather cotton woolen velvet
silk crystal traditional historic classic antique abandoned ruined broken rusty dusty dirty
clean neat messy crowded deserted solitary lone fresh warm cold hot cool wet dry frozen icy
sandy rocky grassy muddy leafy mossy shady sunlit moonlit candlelit snowcapped misty foggy
steep flat hollow deep shallow distant hidden secret famous local rural urban remote exotic
tropical arctic alpine coastal industrial royal sacred festive charming quaint grand humble
simple ornate intricate minimalist geometric symmetrical abstract surreal dramatic moody serene
tranquil vibrant lush barren dense sparse towering sprawling bustling noisy silent sparkling
glittering shimmering twinkling blurry sharp crisp hazy faded weathered worn polished painted
carved handmade homemade ripe juicy organic roasted fried grilled baked steamed chilled frosted
creamy cheesy salty spicy sweet bitter smoky fragrant delicious tasty crispy fluffy furry fuzzy
shaggy spotted striped speckled freckled curly wavy straight twisted tangled winding curved round
square oval pointed jagged smooth rough soft hard shiny glossy matte dull pale vivid pastel
neon glowing luminous radiant golden-hour translucent transparent reflective mirrored cracked
peeling crumbling overgrown blooming wilting fallen scattered endless vast open closed locked
forgotten lost familiar strange mysterious magical dreamy nostalgic cheerful joyful sad gloomy
tired brave fierce shy friendly fluffy-tailed muscular slender chubby skinny elderly
newborn baby-faced sunburnt windswept rain-soaked snow-covered sun-drenched fog-covered
tree-lined cobbled paved open-air underground overhead upstairs downstairs indoor
outdoor seaside lakeside riverside roadside hillside mountainside countryside waterfront
late early first last only double single twin main upper lower inner outer
northern southern eastern western central heavy light thin thick fat slim massive miniature
enormous compact portable electric wireless digital analog mechanical automatic manual
handwritten printed embroidered knitted woven stitched folded crumpled torn stained spotless
adorable agile airy arid bare battered beloved blazing bleak breathtaking brisk bumpy chipped
cluttered colossal cosmopolitan craggy crooked dainty dappled decorative desolate dewy dim eerie
elaborate eroded fancy feathery fiery flowering fluorescent foamy frail frayed gilded gleaming
gnarled gritty heavenly hilly idyllic immense inviting knotted lacy lanky leafless lively lofty
lopsided marshy mellow mighty muted nimble ornamental patchy pebbled petite picturesque plush
pristine rambling ramshackle rippled rolling rosy rugged rundown rustling scenic scruffy secluded
shabby sheltered skeletal sleek snug sooty spacious spiky splendid stately steamy striking
stunning sturdy sunken swirling tattered tender textured thorny tidy timeless trim turbulent
unspoiled untamed velvety verdant weary whimsical windblown wispy withered wrinkled youthful zigzag
`)

var objectWords = words(`
flower tree book cup bench table chair window door lamp clock sign umbrella bag phone camera
bottle vase candle mirror bicycle_wheel ball kite guitar piano laptop sofa bed pillow blanket
shelf desk cabinet curtain rug cushion stool armchair bathtub sink towel basket box jar bowl
plate mug glass teapot kettle spoon fork knife chopsticks pan pot oven stove fridge toaster
apple banana orange lemon strawberry cherry grape watermelon peach pear pineapple mango tomato
potato carrot onion garlic pepper cucumber lettuce cabbage broccoli mushroom corn pumpkin bread
cake cookie pie pizza burger sandwich noodles rice sushi salad soup steak egg cheese chocolate
candy donut croissant coffee tea wine beer juice milk honey ice_cream dumpling taco pasta waffle
pancake muffin bagel pretzel popcorn fries cupcake macaron tart smoothie cocktail lemonade
leaf rock shell feather pinecone branch log moss grass rose tulip sunflower daisy lily orchid
lotus cactus fern palm_tree bamboo ivy maple oak pine willow birch cherry_blossom poppy
dandelion seaweed coral driftwood acorn petal vine wheat hydrangea magnolia camellia peony
hat cap scarf jacket coat dress shirt sweater boots shoes sneakers sandals gloves glasses
sunglasses watch necklace ring bracelet earring backpack handbag suitcase wallet belt tie
helmet mask kimono hanbok apron raincoat
computer keyboard monitor lens tripod headphones speaker radio television tablet drone robot
hammer wrench screwdriver ladder rope chain wheel tire bucket shovel rake broom hose toolbox
violin drum trumpet saxophone flute cello ukulele microphone football basketball soccer_ball
tennis_racket baseball_bat skateboard surfboard snowboard skis balloon teddy_bear doll puzzle
dice chessboard frisbee toy_car train_set
street_sign traffic_light streetlight lamppost fountain statue sculpture mural graffiti
billboard mailbox fire_hydrant fence gate wall staircase railing chimney flag banner lantern
neon_sign vending_machine phone_booth bollard manhole parking_meter weathervane windmill
notebook pen pencil paintbrush canvas painting poster photograph map postcard letter envelope
newspaper magazine calendar globe compass telescope typewriter record_player cassette
key lock coin ticket gift ribbon trophy medal crown sword shield anchor bell firework sparkler
campfire fireplace tent hammock swing trampoline wreath christmas_tree pumpkin_lantern
snowman sandcastle birdhouse flowerpot watering_can wheelbarrow scarecrow hay_bale barrel
crate pallet cardboard_box shopping_cart stroller wheelchair crutch
microscope hourglass candlestick chandelier lantern_light fairy_lights string_lights
paper_lantern wind_chime dreamcatcher tapestry quilt pottery teacup saucer wine_glass
beer_mug cutting_board rolling_pin whisk ladle colander grater frying_pan rice_cooker
bento_box lunchbox thermos water_bottle picnic_basket cooler deck_chair beach_umbrella
beach_towel sunhat flip_flops swimsuit goggles snorkel life_jacket fishing_rod net paddle
oar sail mast rudder buoy lifebuoy rope_ladder signpost milestone gravestone cross
altar candle_holder incense prayer_flag bell_tower torii lantern_post stone_lantern
pagoda_roof roof_tile doorway archway window_box shutter doorknob keyhole padlock
mailbox_post newspaper_stand bus_shelter bike_rack street_vendor_cart food_truck
umbrella_stand coat_rack bookcase bunk_bed crib rocking_chair bean_bag ottoman footstool
dresser wardrobe nightstand headboard duvet mattress bath_mat shower_curtain toothbrush
soap sponge hairdryer comb perfume lipstick nail_polish makeup_brush
avocado blueberry raspberry kiwi coconut fig papaya pomegranate persimmon chestnut walnut almond
peanut cinnamon tofu dim_sum spring_roll curry burrito omelette sausage bacon oyster clam mussel
scallop baguette brioche scone biscuit brownie cheesecake pudding yogurt cereal porridge espresso
latte cappuccino matcha soda paper_plane origami folding_fan parasol disco_ball abacus guitar_case
sheet_music vinyl_record film_camera projector spotlight easel sketchbook crayon scissors ruler
calculator clipboard
`)

var vehicleWords = words(`
car bus bicycle truck motorcycle train boat taxi van tram scooter ship airplane sailboat ferry
subway tractor jeep yacht canoe kayak helicopter hot_air_balloon cable_car trolley ambulance
fire_truck police_car pickup_truck minivan camper caravan rickshaw tuk-tuk horse_carriage
sled snowmobile jet_ski speedboat fishing_boat cargo_ship cruise_ship submarine glider
seaplane bulldozer excavator crane forklift garbage_truck school_bus double-decker_bus
sports_car vintage_car electric_car motorbike moped unicycle tandem_bicycle wagon cart
gondola rowboat houseboat steam_train bullet_train monorail limousine convertible
`)

var animalWords = words(`
dog cat bird horse cow sheep duck puppy kitten goat pig chicken swan pigeon seagull sparrow
deer squirrel rabbit fox owl eagle butterfly bee fish turtle frog goose crow parrot penguin
heron stork robin hummingbird woodpecker kingfisher magpie peacock flamingo pelican elk moose
wolf bear panda koala kangaroo lion tiger leopard cheetah jaguar elephant giraffe zebra rhino
hippo monkey gorilla chimpanzee orangutan lemur chipmunk hare hedgehog raccoon otter beaver
badger skunk bat mouse rat hamster guinea_pig ferret camel llama alpaca donkey mule bison
buffalo yak boar toad tortoise lizard gecko iguana snake crocodile alligator goldfish koi
salmon trout shark whale dolphin seal sea_lion walrus octopus squid jellyfish crab lobster
shrimp starfish seahorse moth bumblebee dragonfly ladybug beetle ant spider grasshopper
cricket snail caterpillar firefly lamb calf foal duckling chick cub hen rooster ostrich emu
toucan puffin albatross cormorant egret ibis vulture condor raven blackbird finch wren
swallow mole meerkat sloth armadillo porcupine platypus narwhal orca manta_ray stingray eel
clownfish pufferfish hermit_crab mantis scorpion worm corgi retriever poodle husky beagle
dachshund shiba_inu bulldog terrier tabby_cat siamese_cat mallard crane_bird red_panda
snow_leopard polar_bear grizzly_bear black_bear mountain_goat reindeer wild_boar
`)

var personWords = words(`
man woman child boy girl baby couple family tourist hiker surfer cyclist runner photographer
musician dancer chef artist student traveler climber skier skateboarder swimmer diver
fisherman farmer cook baker waiter vendor guitarist drummer singer painter model bride groom
teacher worker builder soldier police_officer firefighter doctor nurse monk priest
grandmother grandfather mother father son daughter sister brother player athlete gymnast
boxer jockey shepherd sailor pilot driver commuter pedestrian shopper street_performer
juggler clown magician toddler teenager crowd group stranger neighbor friend
`)

var placeWords = words(`
beach park street bridge city garden lake river mountain forest harbor road field market cafe
village square sea ocean coast island hill valley waterfall desert meadow farm temple church
castle palace tower lighthouse skyline station pier dock marina alley courtyard rooftop
terrace porch patio backyard playground stadium airport museum library gallery restaurant
kitchen bedroom living_room office shop bakery bookstore school university campus hospital
factory warehouse barn greenhouse cave canyon cliff shore bay lagoon pond stream creek glacier
volcano vineyard orchard town plaza downtown cathedral shrine mosque fortress skyscraper
boardwalk promenade highway tunnel crossroads intersection parking_lot gas_station mall
supermarket gorge ravine plateau dune oasis savanna jungle rainforest swamp marsh wetland reef
tundra prairie fjord peninsula cove ridge summit peak trail path footpath aqueduct dam canal
riverbank waterfront seafront esplanade quay wharf ruins monument memorial cemetery chapel
abbey monastery pagoda stupa old_town city_center neighborhood suburb countryside farmland
rice_field tea_plantation lavender_field sunflower_field wheat_field pasture ranch hut cabin
cottage villa mansion apartment studio workshop garage attic hallway corridor lobby gym pool
swimming_pool spa hotel hostel campsite zoo aquarium botanical_garden amusement_park
theme_park fairground theater cinema concert_hall opera_house nightclub pub brewery winery
fish_market night_market flea_market food_court street_market rail_yard construction_site
junkyard ski_slope ski_resort golf_course tennis_court football_field racetrack skatepark
bike_lane sidewalk crosswalk underpass overpass viaduct observation_deck viewpoint lookout
mountain_pass hot_spring geyser crater lava_field salt_flat rice_terrace bamboo_forest
pine_forest birch_grove snowfield ice_cave sea_cave sandbar tide_pool estuary delta
riverbed mesa badlands subway_station train_station bus_stop bus_terminal ferry_terminal
old_bridge stone_bridge footbridge suspension_bridge city_wall gatehouse bell_tower
clock_tower water_tower radio_tower ferris_wheel carousel bandstand gazebo pavilion
pergola fountain_square town_hall city_hall courthouse parliament embassy post_office
train_platform tram_stop taxi_rank car_park rest_stop service_area roadside_diner
food_stall tea_house ramen_shop noodle_bar bar wine_bar coffee_shop ice_cream_parlor
flower_shop farmers_market antique_shop record_store gift_shop toy_store
bazaar souk marketplace arcade colonnade cloister crypt dungeon moat drawbridge rampart turret
spire dome minaret belfry
`)

var activityWords = words(`
walking sitting standing playing running sleeping reading eating looking waiting watching
smiling laughing talking posing swimming surfing cycling riding climbing hiking jumping dancing
singing drinking cooking skiing snowboarding skating skateboarding painting drawing writing
fishing sailing rowing paddling kayaking diving flying floating resting relaxing lying
crawling grazing hunting chasing fetching stretching yawning sunbathing picnicking camping
shopping working studying praying celebrating marching juggling performing practicing
training racing driving crossing exploring wandering strolling jogging sprinting kneeling
leaning balancing hugging holding carrying pushing pulling throwing catching kicking feeding
gardening planting harvesting building repairing cleaning washing sweeping knitting sewing
baking grilling serving selling buying photographing filming waving pointing clapping
meditating napping splashing wading perching nesting pecking foraging soaring hovering
gliding roaming prowling stalking pouncing basking burrowing howling barking purring chirping
sniffing licking peeking hiding listening thinking dreaming daydreaming queuing commuting
skipping hopping tiptoeing sledding snorkeling bouldering
sketching rollerblading snowshoeing paragliding skydiving fencing golfing bowling ice_skating
birdwatching stargazing sightseeing backpacking busking drumming strumming whistling humming
brewing pouring stirring chopping slicing frying sipping tasting
`)

var stateWords = words(`
parked resting standing sitting lying hanging leaning floating displayed stacked left abandoned
reflected illuminated lit covered wrapped scattered arranged piled placed tied chained broken
rusting glowing shining drifting overturned half-buried frozen melting blooming waiting
moored docked stranded forgotten perched balanced propped tucked
`)

var prepositionWords = words(`
near by beside next_to in_front_of behind under along across inside outside above over
through at on beneath beyond opposite
`)

var weatherAdjWords = words(`
sunny cloudy rainy foggy snowy misty stormy windy overcast hazy frosty humid drizzly chilly
breezy clear gloomy freezing balmy wintry blustery
`)

var weatherNounWords = words(`
rain snow fog mist sunshine storm drizzle wind breeze haze frost dew rainbow lightning blizzard
snowfall downpour heatwave sunlight moonlight starlight shade twilight_glow clouds hail
`)

var timeOfDayWords = words(`
sunset sunrise night dusk dawn golden_hour twilight noon midnight blue_hour daybreak nightfall
first_light
`)

var daypartWords = words(`morning afternoon evening day night weekend`)

var seasonWords = words(`autumn spring summer winter fall`)

var photoWords = words(`
portrait landscape closeup macro panorama silhouette reflection bokeh long_exposure aerial_view
street_photography still_life self-portrait selfie snapshot candid black_and_white monochrome
sepia double_exposure motion_blur light_trails star_trails astrophotography night_sky
milky_way cityscape seascape texture pattern detail composition symmetry minimalism vista view
scenery scene moment memory journey adventure story mood atmosphere light shadow contrast
analog_film polaroid wide_angle telephoto fisheye tilt-shift infrared underwater
film_grain lens_flare high_key low_key golden_light backlight rim_light soft_focus
depth_of_field leading_lines rule_of_thirds negative_space
`)

var eventWords = words(`
wedding birthday party festival parade concert picnic barbecue graduation holiday vacation
trip road_trip christmas new_year halloween easter thanksgiving lunar_new_year chuseok diwali
hanami lantern_festival fireworks_show marathon race match game tournament exhibition fair
conference ceremony celebration reunion dinner lunch breakfast brunch tea_party camping_trip
fishing_trip ski_trip honeymoon anniversary carnival street_festival food_festival
music_festival flower_festival harvest_festival
`)

// Given and family names for creators. Sampled uniformly: names are not the
// long tail we want to model.
var firstNames = words(`
Emma Liam Olivia Noah Ava Lucas Sophia Mia Ethan Amelia James Harper Benjamin Ella Henry
Chloe Daniel Grace Samuel Zoe Oliver Lily Jack Hannah Leo Nora Max Clara Felix Ruby Hugo
Alice Oscar Isla Theo Freya Marco Sofia Luca Elena Mateo Lucia Pablo Ines Jonas Anna Lars
Ingrid Priya Arjun Aisha Omar Yusuf Leila Kenji Hana Wei Mei Tariq Amara Kofi Nia Diego
Camila Rafael Valentina
`)

var lastNames = words(`
Smith Johnson Brown Taylor Wilson Davies Evans Thomas Roberts Walker Wright Hughes Green
Hall Wood Clarke Jackson White Harris Martin Thompson Moore Anderson Lee Garcia Martinez
Rodriguez Lopez Hernandez Gonzalez Rossi Bianchi Romano Colombo Muller Schmidt Schneider
Fischer Weber Dubois Laurent Lefebvre Moreau Jansen Visser Novak Kowalski Nielsen Hansen
Johansson Lindqvist Silva Santos Costa Pereira Okafor Mensah Patel Sharma Khan Ali Nguyen
Tran Tanaka Suzuki Chen Wang Cohen Murphy Kelly OBrien
`)

var studioNames = words(`
Northlight_Studio Blue_Hour_Photo Fieldnotes_Imaging Harbor_Lane_Pictures Stillwater_Images
Paper_Kite_Studio Open_Shutter_Collective Wild_Frame_Media Lantern_House_Photography
Tidewater_Archive
`)
