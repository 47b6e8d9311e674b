package synth

// Korean, Japanese and Chinese vocabulary. Korean gets the largest share
// after English (Options.KoreanShare), so it has its own nouns, places,
// adjectives and whole phrases; Japanese and Chinese get enough to make
// CJK search and tokenization testable. Lists are ordered by how often the
// word shows up in real photo captions, as the English lists are.

var koNouns = words(`
바다 하늘 강아지 고양이 꽃 벚꽃 노을 산 야경 카페 커피 나무 단풍 구름 눈 비 일출 일몰 바람 별 달
호수 강 숲 들판 해변 섬 폭포 계곡 다리 거리 골목 시장 빵 케이크 떡볶이 김밥 비빔밥 불고기 삼겹살
치킨 라면 김치 냉면 팥빙수 호떡 붕어빵 과일 딸기 수박 사과 귤 자전거 버스 지하철 기차 자동차 택시
배 비행기 아이 가족 친구 연인 할머니 할아버지 아기 학생 풍경 건물 아파트 공원 놀이터 도서관 학교
교회 절 궁궐 한옥 기와 돌담 등대 항구 어선 갈매기 비둘기 참새 오리 백조 나비 잠자리 해바라기
코스모스 유채꽃 진달래 개나리 무궁화 장미 튤립 연꽃 대나무 소나무 은행나무 눈사람 우산 책 창문
불꽃놀이 등불 연등 케이블카 전망대 해돋이 억새 갯벌 파도 모래사장 소풍 도시락 커피잔 조각케이크
`)

var koPlaces = words(`
서울 부산 제주도 한강 경복궁 남산타워 해운대 광안리 인천 경주 전주 강릉 속초 여수 통영 춘천 안동
대구 대전 광주 명동 홍대 강남 이태원 북촌 인사동 동대문 청계천 창덕궁 감천문화마을 성산일출봉
한라산 설악산 지리산 북한산 남이섬 롯데월드타워 불국사 해동용궁사 우도 협재해변
`)

var koAdjectives = words(`
아름다운 푸른 조용한 따뜻한 화창한 맑은 오래된 작은 귀여운 평화로운 흐린 차가운 큰 행복한 붉은
노란 하얀 고요한 싱그러운 아늑한 낡은 반짝이는 포근한 시원한 한적한 화려한 소박한 눈부신
`)

var koSeasons = words(`봄 여름 가을 겨울`)

var koTimes = words(`아침 저녁 밤 새벽 오후 해질녘 주말 퇴근길`)

// Whole phrases: the way people actually caption travel and daily photos.
var koPhrases = words(`
서울_야경 한옥_마을 벚꽃_축제 단풍_구경 바다_여행 겨울_바다 봄_소풍 가을_하늘 여름_휴가 첫눈_오는_날
주말_나들이 한강_공원_피크닉 제주도_올레길 해운대_해수욕장 경복궁_야간_개장 남산타워_전망
전주_한옥마을_골목 노을_지는_한강 눈_덮인_설악산 불꽃_축제 야시장_먹거리 골목길_카페
산책하는_강아지 낮잠_자는_고양이 비_오는_날_거리 별이_빛나는_밤 부산_감천문화마을 광안대교_야경
봄날의_벚꽃길 가을_억새밭 유채꽃_들판 바닷가_일출 동네_산책 카페_창가 할머니_댁 가족_여행
`)

var koTagExtras = words(`여행 일상 맛집 감성 풍경사진 데일리 주말 여행스타그램 사진 휴가`)

var koFamilyNames = words(`김 이 박 최 정 강 조 윤 장 임 한 오 서 신 권 황`)

var koGivenNames = words(`민준 서연 지훈 수빈 예린 도현 하은 서준 지우 하윤 현우 지민 유진 승민 다은 준호 소연 태윤`)

var jaPlaces = words(`
東京 京都 大阪 奈良 北海道 沖縄 横浜 鎌倉 広島 日光 富士山 東京タワー 東京スカイツリー 浅草寺 金閣寺
清水寺 伏見稲荷大社 嵐山 大阪城 厳島神社 渋谷スクランブル交差点 札幌
`)

var jaNouns = words(`
桜 紅葉 猫 犬 夜景 海 山 雪 花火 祭り 電車 神社 お寺 庭園 鹿 温泉 夕焼け 青空 紫陽花 ラーメン 寿司
抹茶 提灯 鳥居 商店街 路地 朝日 星空 田んぼ 灯台
`)

var zhPlaces = words(`
长城 故宫 西湖 外滩 黄山 桂林 北京 上海 杭州 成都 西安 苏州 天安门广场 兵马俑 颐和园 东方明珠 张家界
九寨沟 香港 维多利亚港
`)

var zhNouns = words(`
熊猫 夜景 日落 雪山 古镇 茶园 梯田 寺庙 灯笼 花 月亮 湖 河 桥 街道 美食 饺子 火锅 荷花 竹林 云海
烟花 老街 胡同
`)

var jaNames = words(`佐藤_健 鈴木_愛 高橋_翔 田中_美咲 伊藤_蓮 渡辺_陽菜 山本_大輝 中村_結衣`)

var zhNames = words(`王伟 李娜 张敏 刘洋 陈静 杨帆 赵磊 黄丽`)
